// The precompute tests start worker processes that keep both cores busy; the store races measure concurrency
// inside one database and must not share the machine with them, or they time out for reasons of their own.
[assembly: Xunit.CollectionBehavior(DisableTestParallelization = true)]
