package streams

import (
	"context"
	"testing"
)

// SetRestoreHook makes hook run before each task's store is opened and
// restored, with the restoration's context and the task's id, until the
// test ends. Set it before starting an app: it is not synchronised.
func SetRestoreHook(t testing.TB, hook func(ctx context.Context, task string)) {
	restoreHook = hook
	t.Cleanup(func() { restoreHook = nil })
}
