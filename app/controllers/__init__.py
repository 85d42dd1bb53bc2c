"""Use cases: validate input, apply the business rules, call the models."""
