"""Integrations with other search systems (radlite.integrations.elastic: rerank Elasticsearch/OpenSearch hits)."""
