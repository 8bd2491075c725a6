"""Linux ABI definitions shared by sentry's kernel and its platforms
(analogous to gVisor's ``pkg/abi/linux``)."""
