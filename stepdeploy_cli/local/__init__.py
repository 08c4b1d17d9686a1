"""`stepdeploy local ...`: the local cloud's GHE and faults, driven from another terminal."""
