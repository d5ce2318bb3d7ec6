"""The three-node demo: a network of real node processes on 127.0.0.1, and the scenario the
`tisa demo` command runs over it."""
