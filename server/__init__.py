"""The OneMap server: the WSGI application, its endpoints and the onemap CLI."""
