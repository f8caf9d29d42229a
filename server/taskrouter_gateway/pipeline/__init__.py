"""One pipeline for every API RPC, unary or server-streaming: chain.py runs it, steps.py holds the steps and
their order, marks.py the @rpc mark that says which servicer method serves which proto method."""

from .chain import Call, Method, Pipeline, Step
from .marks import full_method_name, rpc
from .steps import gateway_pipeline

__all__ = ["Call", "Method", "Pipeline", "Step", "full_method_name", "gateway_pipeline", "rpc"]
