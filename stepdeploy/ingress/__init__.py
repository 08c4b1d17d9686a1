"""What starts or resumes work from outside: the webhook, S3 uploads, starting an execution, resuming a wait."""
