package activities

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAddressClass(t *testing.T) {
	refused := []string{
		"127.0.0.1", "127.8.9.10", "::1", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.0.1", "fc00::1",
		"fd12:3456::1", "169.254.169.254", "fe80::1", "0.0.0.0", "::", "224.0.0.251", "ff02::1", "100.64.0.1",
		"::ffff:10.1.2.3", "::ffff:169.254.169.254", "64:ff9b::a00:1", "255.255.255.255", "198.18.0.1", "0.1.2.3",
	}
	for _, s := range refused {
		require.NotEmpty(t, addressClass(netip.MustParseAddr(s)), s)
	}
	allowed := []string{"8.8.8.8", "1.1.1.1", "172.32.0.1", "2001:4860:4860::8888", "64:ff9b::808:808", "93.184.216.34"}
	for _, s := range allowed {
		require.Empty(t, addressClass(netip.MustParseAddr(s)), s)
	}
}

// TestGuardControl checks the second line of the guard, the dialer's Control function, which sees every address
// just before connect.
func TestGuardControl(t *testing.T) {
	for _, a := range []string{"127.0.0.1:80", "[::1]:443", "169.254.169.254:80", "10.0.0.1:8080"} {
		require.ErrorIs(t, guardControl("tcp", a, nil), ErrForbiddenAddress, a)
	}
	require.NoError(t, guardControl("tcp", "8.8.8.8:443", nil))
	require.NoError(t, guardControl("tcp6", "[2001:4860:4860::8888]:443", nil))
}
