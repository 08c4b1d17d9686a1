"""Container images for Lambda without a Docker engine: Dockerfiles on AWS Lambda base images, emulated."""
