package activities

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// ErrForbiddenAddress is the cause of a webhook refused by the address guard.
var ErrForbiddenAddress = errors.New("the address is not a public unicast address")

// forbiddenAddressError names the refused address class, never the URL.
type forbiddenAddressError struct{ class string }

func (e *forbiddenAddressError) Error() string { return "refused a " + e.class + " address" }
func (e *forbiddenAddressError) Unwrap() error { return ErrForbiddenAddress }

// Address ranges a webhook may not reach unless the organisation allows private addresses, beyond what netip's
// predicates (loopback, private, link-local, multicast, unspecified) cover.
var extraBlocked = []struct {
	prefix netip.Prefix
	class  string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local NAT64"},
}

// addressClass returns why an address is refused, or "" when it is a public unicast address.
func addressClass(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate(): // 10/8, 172.16/12, 192.168/16, fc00::/7
		return "private"
	case a.IsLinkLocalUnicast(): // 169.254/16 (cloud metadata included), fe80::/10
		return "link-local"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast(), a.IsLinkLocalMulticast():
		return "multicast"
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, b := range extraBlocked {
		if b.prefix.Contains(a) {
			return b.class
		}
	}
	if a.Is6() {
		// NAT64 (64:ff9b::/96) embeds an IPv4 address: judge that one.
		if p := netip.MustParsePrefix("64:ff9b::/96"); p.Contains(a) {
			b := a.As16()
			return addressClass(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		}
	}
	return ""
}

// guardControl is a net.Dialer Control function: it runs after DNS resolution and before connect, once per address
// tried, so a host name that resolves to a refused address (localhost, a rebinding name) is refused before any
// packet leaves.
func guardControl(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return &forbiddenAddressError{class: "malformed"}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return &forbiddenAddressError{class: "unparsable"}
	}
	if class := addressClass(a); class != "" {
		return &forbiddenAddressError{class: class}
	}
	return nil
}

// dialer returns a DialContext for a webhook transport. Unless allowPrivate, it resolves the host itself, refuses
// the connection if any address it resolves to is not public (a name with one public and one private address is
// refused too: its owner can steer us to either), and dials only the addresses it checked, so a DNS answer that
// changes between check and connect cannot slip through. The dialer's Control function checks every address once
// more just before connect. No packet is sent to a refused address.
func dialer(allowPrivate bool) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if allowPrivate {
		return d.DialContext
	}
	d.Control = guardControl
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		var ips []netip.Addr
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []netip.Addr{ip}
		} else if ips, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
			return nil, err
		}
		for _, ip := range ips {
			if class := addressClass(ip); class != "" {
				return nil, &forbiddenAddressError{class: class}
			}
		}
		var first error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
			if err == nil {
				return c, nil
			}
			if first == nil {
				first = err
			}
		}
		if first == nil {
			first = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
		return nil, first
	}
}

func describeForbidden(err error) string {
	var fe *forbiddenAddressError
	if errors.As(err, &fe) {
		return fmt.Sprintf("the host resolves to a %s address, which webhooks may not reach "+
			"(allow_private_webhook_addresses is off)", fe.class)
	}
	return ErrForbiddenAddress.Error()
}
