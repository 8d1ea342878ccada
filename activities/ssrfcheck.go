package activities

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// CheckWebhookURL applies the address guard (ssrf.go) to a subscriber URL when it is written, so that the API
// refuses at once what every send would refuse: unless allowPrivate, a URL whose host is a non-public address
// literal, localhost, or a name that resolves (within 2 s) to any non-public address. A name that does not resolve
// now is accepted; the guard checks again at every send. The error names the address class, never the URL.
func CheckWebhookURL(raw string, allowPrivate bool) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("must be an absolute http or https URL")
	}
	if allowPrivate {
		return nil
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("refused a loopback address (set allow_private_webhook_addresses to allow it)")
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if c := addressClass(a); c != "" {
			return fmt.Errorf("refused a %s address (set allow_private_webhook_addresses to allow it)", c)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if c := addressClass(a); c != "" {
			return fmt.Errorf("the host resolves to a %s address (set allow_private_webhook_addresses to allow it)", c)
		}
	}
	return nil
}
