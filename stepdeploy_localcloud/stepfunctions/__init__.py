"""Step Functions on the local cloud: moto 5.2.5's ASL interpreter, made faithful.

The modules here hold the pieces that ``stepdeploy_localcloud.stepfunctions.patch.apply``
installs over moto: virtual time, the execution lifecycle (names, stop, status events),
RedriveExecution, the API responses and the machines CloudFormation creates.
"""
