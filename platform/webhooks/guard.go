package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// ErrAddressRefused: a webhook URL resolves to, or a delivery would connect
// to, an address the guard refuses (loopback, link-local, private,
// unspecified, multicast and other special-purpose ranges).
var ErrAddressRefused = errors.New("webhooks: address refused")

// MaxURLLength bounds an endpoint's URL.
const MaxURLLength = 2048

// refusedPrefixes are special-purpose ranges that netip's predicates do not
// name but that never belong to a public receiver.
var refusedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),      // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),  // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),   // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),  // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),    // reserved, broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"), // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),  // documentation
	netip.MustParsePrefix("::ffff:0:0/96"),  // IPv4-mapped (checked unmapped too)
	netip.MustParsePrefix("fec0::/10"),      // deprecated site-local
	netip.MustParsePrefix("2002::/16"),      // 6to4 may embed any IPv4
	netip.MustParsePrefix("64:ff9b::/96"),   // NAT64 may embed any IPv4
	netip.MustParsePrefix("2001::/32"),      // Teredo may embed any IPv4
	netip.MustParsePrefix("169.254.0.0/16"), // link-local (cloud metadata)
	netip.MustParsePrefix("fe80::/10"),      // link-local
	netip.MustParsePrefix("ff00::/8"),       // multicast
	netip.MustParsePrefix("224.0.0.0/4"),    // multicast
}

// Refused reports whether the guard refuses an address when private
// addresses are not allowed.
func Refused(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range refusedPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Guard decides which addresses webhooks may reach. The zero value refuses
// every address Refused names.
type Guard struct {
	// AllowPrivate lets URLs reach loopback, private and the other refused
	// addresses (tmfd serve --webhooks-allow-private): for tests and for
	// receivers on a private network.
	AllowPrivate bool
	// Resolver resolves host names at registration; nil is net.DefaultResolver.
	Resolver *net.Resolver
}

// CheckURL checks an endpoint URL when it is registered: absolute http or
// https, a host, no user info or fragment, at most MaxURLLength, and every
// address its host resolves to allowed. Delivery checks again the address
// it actually connects to (Transport), so a name that later resolves
// elsewhere (DNS rebinding) is refused then.
func (g Guard) CheckURL(ctx context.Context, raw string) error {
	if len(raw) > MaxURLLength {
		return fmt.Errorf("the URL is longer than %d bytes", MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("the URL is malformed: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("the URL's scheme is %q; want http or https", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("the URL has no host")
	}
	if u.User != nil {
		return errors.New("the URL carries user info; a receiver authenticates deliveries by their signature")
	}
	if u.Fragment != "" || u.Opaque != "" {
		return errors.New("the URL has a fragment or is opaque")
	}
	if g.AllowPrivate {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if Refused(ip) {
			return fmt.Errorf("%w: %s is a loopback, private, link-local or otherwise special address", ErrAddressRefused, ip)
		}
		return nil
	}
	r := g.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("the URL's host %q does not resolve: %v", host, err)
	}
	for _, ip := range ips {
		if Refused(ip) {
			return fmt.Errorf("%w: %s resolves to %s, a loopback, private, link-local or otherwise special address", ErrAddressRefused, host, ip)
		}
	}
	return nil
}

// control refuses, after resolution and before connecting, an address the
// guard does not allow: the check is on the address dialled, not on a
// name resolved earlier.
func (g Guard) control(_, address string, _ syscall.RawConn) error {
	if g.AllowPrivate {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrAddressRefused, address, err)
	}
	if Refused(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrAddressRefused, ap.Addr())
	}
	return nil
}

// Client returns the HTTP client deliveries use: it dials only addresses
// the guard allows (checked on the connected address), uses no proxy from
// the environment (a proxy would dial for it, unchecked), follows no
// redirect (the 3xx is the answer), and gives up after timeout.
func (g Guard) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: timeout, Control: g.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
