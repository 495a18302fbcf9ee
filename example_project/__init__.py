"""A minimal Django project on aurora-ssl's backend, configured from environment variables."""
