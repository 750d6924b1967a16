"""Runtimes that call ``App.lambda_handler`` the way the Lambda SQS event source mapping does."""
