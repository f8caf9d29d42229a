package client

// PinJitter makes every backoff wait exactly fraction of its current backoff; call restore when done.
func PinJitter(fraction float64) (restore func()) {
	saved := jitter
	jitter = func() float64 { return fraction }
	return func() { jitter = saved }
}
