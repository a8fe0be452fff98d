"""One messaging core for every service: a ``Publisher`` (the only way anything is published), a
batch consumer (``subscribe``) with a typed decoder and dead-letter and commit policies, and the
declarations of what each service consumes and produces, from which the AsyncAPI document is made.

- ``publisher``: ``Outgoing``, ``Publisher`` (aiokafka, acknowledgements, the embedded topic guard);
- ``consumer``: ``subscribe``, ``CommitPolicy``, the size guard;
- ``decoding``: ``Decoded``, ``Rejected``, ``Decoder``, ``BatchHandler``;
- ``deadletters``: ``dead_letter``, ``DeadLetterPolicy``;
- ``declarations``: ``Produces``, ``Consumes``, ``Declarations``;
- ``metrics``: ``PipelineMetrics``, ``new_registry``.
"""
