package plugin

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestTheBrokerStreamIsRefusedAndOthersPass(t *testing.T) {
	called := ""
	streamer := func(_ context.Context, _ *grpc.StreamDesc, _ *grpc.ClientConn, method string, _ ...grpc.CallOption) (grpc.ClientStream, error) {
		called = method
		return nil, nil
	}
	if _, err := refuseBroker(context.Background(), &grpc.StreamDesc{}, nil, brokerStream, streamer); status.Code(err) != codes.PermissionDenied || called != "" {
		t.Fatalf("broker stream: %v (opened: %q), want it refused unopened", err, called)
	}
	const stdio = "/plugin.GRPCStdio/StreamStdio"
	if _, err := refuseBroker(context.Background(), &grpc.StreamDesc{}, nil, stdio, streamer); err != nil || called != stdio {
		t.Fatalf("stdio stream: %v (opened: %q), want it through", err, called)
	}
}
