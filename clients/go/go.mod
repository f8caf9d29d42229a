module taskrouter.example/gateway

go 1.19

// The versions Debian bookworm packages (golang-google-grpc-dev, golang-google-protobuf-dev,
// golang-google-genproto-dev): CI builds against those sources with no module proxy (see README.md).
require (
	google.golang.org/genproto v0.0.0-20200526211855-cb27e3aa2013
	google.golang.org/grpc v1.33.3
	google.golang.org/protobuf v1.28.1
)
