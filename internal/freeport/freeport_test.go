package freeport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPickAvoidsTheEphemeralRange states the rule: ports are chosen below the kernel's ephemeral range, where no
// outgoing connection can take them between the choice and the server's bind; they are distinct, not excluded, and
// bindable.
func TestPickAvoidsTheEphemeralRange(t *testing.T) {
	low, high := below()
	if high == 0 {
		t.Skip("no readable ephemeral port range on this machine")
	}
	exclude := map[int]bool{}
	for p := low; p < low+(high-low)/2; p++ {
		exclude[p] = true // half the range excluded: the rest must still be found, and nothing excluded returned
	}
	ports, err := Pick("127.0.0.1", 20, exclude)
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, p := range ports {
		require.GreaterOrEqual(t, p, low)
		require.Less(t, p, high, "port %d is in the ephemeral range", p)
		require.False(t, exclude[p], "port %d was excluded", p)
		require.False(t, seen[p], "port %d twice", p)
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		require.NoError(t, err)
		l.Close()
	}
}
