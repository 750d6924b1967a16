"""Deployment helpers: the Lambda zip (``package``) and the SAM template (``template``)."""
