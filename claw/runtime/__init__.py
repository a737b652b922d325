"""What runs the pipeline on one machine: the process tree (stack, supervisor), the private
redis-server, and the run file that tells clients where a running stack is."""
