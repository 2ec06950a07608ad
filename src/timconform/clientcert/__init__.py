"""Client certification: grade what a client sends and how it handles errors (issue 6).

- :func:`timconform.clientcert.runner.certify`: ``timconform certify-client`` (scenarios against a
  recording emulator, hard-coded hosts through a loopback TLS-terminating CONNECT proxy);
- :mod:`timconform.clientcert.validating`: ``timconform proxy``, a validating reverse proxy for live traffic;
- :mod:`timconform.clientcert.checks`: the request-side checks both share (rules ``CL-...``).
"""
