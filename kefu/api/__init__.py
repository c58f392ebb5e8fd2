"""The HTTP API (`kefu api`): `kefu.api.app.create_app` is the application factory."""
