"""Jobs UI: the queue, a job with its decision, approve/deny."""
