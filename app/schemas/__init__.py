"""marshmallow schemas: inputs named for actions, outputs for resources."""
