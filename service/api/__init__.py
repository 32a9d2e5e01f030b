"""Generated gRPC stubs of the seq2seq.v1 contract."""
