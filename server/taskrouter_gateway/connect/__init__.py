"""The Connect front: every RPC the gRPC server serves, also over the Connect protocol (HTTP/1.1, JSON or
binary, unary and server streams; gRPC-Web too) for curl, browsers and the console page, through the same
servicers and the same pipeline. The protocol itself is the official runtime's (connectrpc, on ASGI, served by
uvicorn in the gateway's own event loop); this package only adapts the pipeline to it."""
