"""gRPC transport: servicers that only decode and encode, the wire codec and the status map."""
