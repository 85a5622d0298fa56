"""Infrastructure: the event buses (in-process, Kafka), camera ownership and the database.

Knows the core's records and nothing of the stages that produce them.
"""
