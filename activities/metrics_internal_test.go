package activities

import (
	"context"
	"errors"
	"net/textproto"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestDeliveryErrorCodes: the code a failed attempt is counted under in apptnotify_provider_errors is the class of
// the SMTP reply or HTTP status ("5xx", "4xx"), and empty (counted as "none") when no provider answered.
func TestDeliveryErrorCodes(t *testing.T) {
	ctx := context.Background()
	assert.Equal(t, "5xx", smtpError(ctx, "RCPT TO", &textproto.Error{Code: 550, Msg: "no such user"}).Code)
	assert.Equal(t, "4xx", smtpError(ctx, "DATA", &textproto.Error{Code: 451, Msg: "try later"}).Code)
	assert.Equal(t, "", smtpError(ctx, "dial", errors.New("connection refused")).Code)
	now := time.Now()
	assert.Equal(t, "5xx", httpStatusError(503, "", now, "HTTP 503").Code)
	assert.Equal(t, "4xx", httpStatusError(404, "", now, "HTTP 404").Code)
	assert.Equal(t, "3xx", httpStatusError(302, "", now, "HTTP 302").Code)
	assert.Equal(t, "", replyClass(0))
	assert.Equal(t, "", replyClass(42))
}
