# Read by the flask command (python-dotenv): its app factory builds the app
# without touching the database; `flask db init` does the start-up work.
FLASK_APP=app:create_cli_app
