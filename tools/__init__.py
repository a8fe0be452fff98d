"""Tools around the services: the command line, the local stack and its embedded broker, the webhook
sink, evaluation, benchmarks, the load test and the generated documents (AsyncAPI, settings)."""
