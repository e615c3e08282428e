package payment

// NextAttemptForTest exposes when recovery may work on the payment next.
func (p Payment) NextAttemptForTest() int64 { return p.NextAttempt }
