"""`stepdeploy demo`: scenarios against the sample app on the local cloud, and what they drive."""
