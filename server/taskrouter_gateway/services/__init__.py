"""Thin grpc.aio servicers: validate -> translate -> call upstream -> translate back."""
