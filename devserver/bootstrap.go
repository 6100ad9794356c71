package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// bootstrap waits until every namespace answers through the public frontend
// and then makes sure each carries the custom search attributes. New
// namespaces already got them when they were written to the database; this
// covers databases from an earlier start (or an earlier mlpipe version) and
// attributes added with --search-attribute later on. It is idempotent.
func bootstrap(frontend string, o *options) error {
	conn, err := grpc.NewClient(frontend, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("cannot connect to the frontend at %s: %w", frontend, err)
	}
	defer func() { _ = conn.Close() }()
	wf := workflowservice.NewWorkflowServiceClient(conn)
	op := operatorservice.NewOperatorServiceClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	for _, ns := range o.Namespaces {
		desc, err := retry(ctx, func(c context.Context) (*workflowservice.DescribeNamespaceResponse, error) {
			return wf.DescribeNamespace(c, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
		})
		if err != nil {
			return fmt.Errorf("namespace %s did not become available: %w", ns, err)
		}

		if o.RetentionSet && desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() != o.Retention {
			if _, err := retry(ctx, func(c context.Context) (*workflowservice.UpdateNamespaceResponse, error) {
				return wf.UpdateNamespace(c, &workflowservice.UpdateNamespaceRequest{
					Namespace: ns,
					Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(o.Retention)},
				})
			}); err != nil {
				return fmt.Errorf("cannot set retention of namespace %s: %w", ns, err)
			}
		}

		list, err := retry(ctx, func(c context.Context) (*operatorservice.ListSearchAttributesResponse, error) {
			return op.ListSearchAttributes(c, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
		})
		if err != nil {
			return fmt.Errorf("cannot list search attributes of namespace %s: %w", ns, err)
		}
		missing := map[string]enumspb.IndexedValueType{}
		for name, want := range o.SearchAttrs {
			have, ok := list.GetCustomAttributes()[name]
			switch {
			case !ok:
				missing[name] = want
			case have != want:
				fmt.Fprintf(os.Stderr, "mlpipe-devserver: warning: search attribute %s in namespace %s has type %v, not %v; leaving it as is\n",
					name, ns, have, want)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if _, err := retry(ctx, func(c context.Context) (*operatorservice.AddSearchAttributesResponse, error) {
			return op.AddSearchAttributes(c, &operatorservice.AddSearchAttributesRequest{Namespace: ns, SearchAttributes: missing})
		}); err != nil {
			names := make([]string, 0, len(missing))
			for n := range missing {
				names = append(names, n)
			}
			sort.Strings(names)
			return fmt.Errorf("cannot add search attributes %v to namespace %s: %w", names, ns, err)
		}
	}
	return nil
}

// retry calls f until it succeeds or ctx ends; the services inside the server
// come up one after the other, so the first calls can fail.
func retry[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		res, err := f(c)
		cancel()
		if err == nil {
			return res, nil
		}
		switch status.Code(err) {
		case codes.Unavailable, codes.DeadlineExceeded, codes.NotFound, codes.ResourceExhausted, codes.Aborted:
		default:
			return res, err // not a "still starting" error
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}
