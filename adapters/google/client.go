// Package google writes Google Wallet passes: classes from templates,
// objects from passes, messages with notifications, and save-to-wallet
// links, through the Wallet REST API (google.golang.org/api
// walletobjects/v1) with a service account.
//
// A template becomes a class (ClassKindFor picks loyalty, offer,
// eventTicket or generic; giftCard on request), a pass an object of that
// class with ID issuerID.passID. Writes are upserts: insert, and patch
// when Google answers 409. Errors carry Google's status and message
// (*APIError) and say whether retrying can help: core.ErrPermanent for
// 4xx, *core.RetryAfterError or plain for 429/5xx.
package google

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"
	"google.golang.org/api/option"
	wo "google.golang.org/api/walletobjects/v1"

	"github.com/passhub/passhub/core"
)

// DefaultBaseURL is the Wallet REST API root; resource paths
// ("walletobjects/v1/loyaltyClass") are relative to it.
const DefaultBaseURL = "https://walletobjects.googleapis.com/"

// ClientConfig configures a Client; zero values take defaults.
type ClientConfig struct {
	// BaseURL is the API root (default DefaultBaseURL); tests point it
	// at googletest.
	BaseURL string
	// HTTPClient carries API and token requests (default: a client with
	// a 30 s timeout).
	HTTPClient *http.Client
}

func (c *ClientConfig) setDefaults() {
	if c.BaseURL == "" {
		c.BaseURL = DefaultBaseURL
	}
	if !strings.HasSuffix(c.BaseURL, "/") {
		c.BaseURL += "/"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
}

// Validate checks the configuration (after defaults).
func (c ClientConfig) Validate() error {
	c.setDefaults()
	if err := checkServiceURL(c.BaseURL); err != nil {
		return core.Invalid("baseUrl", "%v", err)
	}
	return nil
}

// Client talks to the Wallet API as one issuer with one service account.
// It is safe for concurrent use; OAuth tokens are fetched once and reused
// until they expire.
type Client struct {
	issuerID string
	sa       *ServiceAccount
	svc      *wo.Service
}

// NewClient builds a client for issuerID (Google's numeric issuer ID)
// authenticating as sa.
func NewClient(issuerID string, sa *ServiceAccount, cfg ClientConfig) (*Client, error) {
	if issuerID == "" || strings.Trim(issuerID, "0123456789") != "" {
		return nil, core.Invalid("issuerId", "must be Google's numeric issuer ID")
	}
	if sa == nil || sa.PrivateKey == nil || sa.ClientEmail == "" {
		return nil, core.Invalid("serviceAccount", "is required")
	}
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	keyPEM, err := sa.pkcs8PEM()
	if err != nil {
		return nil, err
	}
	jc := &jwt.Config{
		Email:        sa.ClientEmail,
		PrivateKey:   keyPEM,
		PrivateKeyID: sa.PrivateKeyID,
		Scopes:       []string{Scope},
		TokenURL:     sa.TokenURI,
	}
	// Token requests go through cfg.HTTPClient too; the context lives as
	// long as the client, HTTPClient's timeout bounds each fetch.
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, cfg.HTTPClient)
	hc := oauth2.NewClient(tokenCtx, jc.TokenSource(tokenCtx))
	hc.Timeout = cfg.HTTPClient.Timeout
	svc, err := wo.NewService(context.Background(), option.WithEndpoint(cfg.BaseURL), option.WithHTTPClient(hc))
	if err != nil {
		return nil, fmt.Errorf("creating walletobjects service: %w", err)
	}
	return &Client{issuerID: issuerID, sa: sa, svc: svc}, nil
}

// IssuerID is the Google issuer the client writes as.
func (c *Client) IssuerID() string { return c.issuerID }

// ClassID is the Google class ID of a template.
func (c *Client) ClassID(templateID string) string { return ClassID(c.issuerID, templateID) }

// ObjectID is the Google object ID of a pass.
func (c *Client) ObjectID(passID string) string { return ObjectID(c.issuerID, passID) }

// UpsertClass writes template t as a class of kind: insert, or patch when
// it exists. The class is sent UNDER_REVIEW (Google approves it), with
// issuerName = organizationName, the template colour, the logo and the
// callback URL of opts.
func (c *Client) UpsertClass(ctx context.Context, kind ClassKind, t core.Template, opts ClassOptions) error {
	if t.ID == "" {
		return core.Invalid("id", "is required (it is the class ID)")
	}
	id := c.ClassID(t.ID)
	body, nulls, err := classBody(kind, id, t, opts)
	if err != nil {
		return err
	}
	_, err = c.upsert(ctx, kind.ClassResource(), id, body, nulls)
	return err
}

// UpsertObject writes pass p of template t as an object of kind, reports
// whether it was created (false: an existing object was patched). The
// class must exist (UpsertClass). The object's state follows the
// lifecycle (active → ACTIVE, expired → EXPIRED, voided and deleted →
// INACTIVE); on a patch, what this version no longer has (barcode, text
// modules, validity...) is cleared.
func (c *Client) UpsertObject(ctx context.Context, kind ClassKind, t core.Template, p core.Pass, opts ObjectOptions) (created bool, err error) {
	if t.ID == "" {
		return false, core.Invalid("templateId", "is required (it names the class)")
	}
	id := c.ObjectID(p.ID)
	body, nulls, err := objectBody(kind, id, c.ClassID(t.ID), t, p, opts)
	if err != nil {
		return false, err
	}
	return c.upsert(ctx, kind.ObjectResource(), id, body, nulls)
}

func (c *Client) upsert(ctx context.Context, resource, id string, body any, nulls []string) (created bool, err error) {
	err = c.insert(ctx, body)
	if err == nil {
		return true, nil
	}
	if !isStatus(err, http.StatusConflict) {
		return false, fmt.Errorf("inserting %s %s: %w", resource, id, classify(err))
	}
	setNullFields(body, nulls)
	if err := c.patch(ctx, id, body); err != nil {
		return false, fmt.Errorf("patching %s %s: %w", resource, id, classify(err))
	}
	return false, nil
}

// setNullFields makes a patch clear fields: every generated type has
// NullFields.
func setNullFields(body any, nulls []string) {
	if len(nulls) == 0 {
		return
	}
	f := reflect.ValueOf(body).Elem().FieldByName("NullFields")
	if f.IsValid() {
		f.Set(reflect.ValueOf(append([]string(nil), nulls...)))
	}
}

func (c *Client) insert(ctx context.Context, body any) (err error) {
	s := c.svc
	switch b := body.(type) {
	case *wo.LoyaltyClass:
		_, err = s.Loyaltyclass.Insert(b).Context(ctx).Do()
	case *wo.OfferClass:
		_, err = s.Offerclass.Insert(b).Context(ctx).Do()
	case *wo.EventTicketClass:
		_, err = s.Eventticketclass.Insert(b).Context(ctx).Do()
	case *wo.GiftCardClass:
		_, err = s.Giftcardclass.Insert(b).Context(ctx).Do()
	case *wo.GenericClass:
		_, err = s.Genericclass.Insert(b).Context(ctx).Do()
	case *wo.LoyaltyObject:
		_, err = s.Loyaltyobject.Insert(b).Context(ctx).Do()
	case *wo.OfferObject:
		_, err = s.Offerobject.Insert(b).Context(ctx).Do()
	case *wo.EventTicketObject:
		_, err = s.Eventticketobject.Insert(b).Context(ctx).Do()
	case *wo.GiftCardObject:
		_, err = s.Giftcardobject.Insert(b).Context(ctx).Do()
	case *wo.GenericObject:
		_, err = s.Genericobject.Insert(b).Context(ctx).Do()
	default:
		err = fmt.Errorf("google: no insert for %T", body)
	}
	return err
}

func (c *Client) patch(ctx context.Context, id string, body any) (err error) {
	s := c.svc
	switch b := body.(type) {
	case *wo.LoyaltyClass:
		_, err = s.Loyaltyclass.Patch(id, b).Context(ctx).Do()
	case *wo.OfferClass:
		_, err = s.Offerclass.Patch(id, b).Context(ctx).Do()
	case *wo.EventTicketClass:
		_, err = s.Eventticketclass.Patch(id, b).Context(ctx).Do()
	case *wo.GiftCardClass:
		_, err = s.Giftcardclass.Patch(id, b).Context(ctx).Do()
	case *wo.GenericClass:
		_, err = s.Genericclass.Patch(id, b).Context(ctx).Do()
	case *wo.LoyaltyObject:
		_, err = s.Loyaltyobject.Patch(id, b).Context(ctx).Do()
	case *wo.OfferObject:
		_, err = s.Offerobject.Patch(id, b).Context(ctx).Do()
	case *wo.EventTicketObject:
		_, err = s.Eventticketobject.Patch(id, b).Context(ctx).Do()
	case *wo.GiftCardObject:
		_, err = s.Giftcardobject.Patch(id, b).Context(ctx).Do()
	case *wo.GenericObject:
		_, err = s.Genericobject.Patch(id, b).Context(ctx).Do()
	default:
		err = fmt.Errorf("google: no patch for %T", body)
	}
	return err
}

// HasUsers reports whether anyone saved the object (Google's hasUsers).
func (c *Client) HasUsers(ctx context.Context, kind ClassKind, objectID string) (bool, error) {
	if err := c.checkObjectID(objectID); err != nil {
		return false, err
	}
	var has bool
	var err error
	s := c.svc
	switch kind {
	case KindLoyalty:
		var o *wo.LoyaltyObject
		if o, err = s.Loyaltyobject.Get(objectID).Context(ctx).Do(); err == nil {
			has = o.HasUsers
		}
	case KindOffer:
		var o *wo.OfferObject
		if o, err = s.Offerobject.Get(objectID).Context(ctx).Do(); err == nil {
			has = o.HasUsers
		}
	case KindEventTicket:
		var o *wo.EventTicketObject
		if o, err = s.Eventticketobject.Get(objectID).Context(ctx).Do(); err == nil {
			has = o.HasUsers
		}
	case KindGiftCard:
		var o *wo.GiftCardObject
		if o, err = s.Giftcardobject.Get(objectID).Context(ctx).Do(); err == nil {
			has = o.HasUsers
		}
	case KindGeneric:
		var o *wo.GenericObject
		if o, err = s.Genericobject.Get(objectID).Context(ctx).Do(); err == nil {
			has = o.HasUsers
		}
	default:
		return false, core.Invalid("kind", "%q is not a Google class kind", kind)
	}
	if err != nil {
		return false, fmt.Errorf("getting %s %s: %w", kind.ObjectResource(), objectID, classify(err))
	}
	return has, nil
}

// MessageType is how a message reaches the user.
type MessageType string

const (
	// MessageTextAndNotify shows the message and sends a push
	// notification; Google allows 3 per pass in 24 hours.
	MessageTextAndNotify MessageType = "TEXT_AND_NOTIFY"
	// MessageText only shows the message on the pass details.
	MessageText MessageType = "TEXT"
)

// AddMessage adds a message to an object (objectID as ObjectID makes it)
// with a notification. When Google refuses the notification because the
// pass used its quota (403 quotaExceeded: 3 TEXT_AND_NOTIFY per pass in 24
// h), the message is added once more as TEXT, without notification. It
// returns the type Google accepted.
func (c *Client) AddMessage(ctx context.Context, kind ClassKind, objectID, header, body string) (MessageType, error) {
	if err := c.checkObjectID(objectID); err != nil {
		return "", err
	}
	if !kind.Valid() {
		return "", core.Invalid("kind", "%q is not a Google class kind", kind)
	}
	if strings.TrimSpace(body) == "" {
		return "", core.Invalid("message", "is required")
	}
	err := c.addMessage(ctx, kind, objectID, header, body, MessageTextAndNotify)
	if err == nil {
		return MessageTextAndNotify, nil
	}
	if !isNotifyQuota(err) {
		return "", fmt.Errorf("adding message to %s %s: %w", kind.ObjectResource(), objectID, classify(err))
	}
	if err := c.addMessage(ctx, kind, objectID, header, body, MessageText); err != nil {
		return "", fmt.Errorf("adding message to %s %s (as TEXT after the notification quota): %w", kind.ObjectResource(), objectID, classify(err))
	}
	return MessageText, nil
}

func (c *Client) addMessage(ctx context.Context, kind ClassKind, objectID, header, body string, typ MessageType) (err error) {
	req := &wo.AddMessageRequest{Message: &wo.Message{Header: header, Body: body, MessageType: string(typ)}}
	s := c.svc
	switch kind {
	case KindLoyalty:
		_, err = s.Loyaltyobject.Addmessage(objectID, req).Context(ctx).Do()
	case KindOffer:
		_, err = s.Offerobject.Addmessage(objectID, req).Context(ctx).Do()
	case KindEventTicket:
		_, err = s.Eventticketobject.Addmessage(objectID, req).Context(ctx).Do()
	case KindGiftCard:
		_, err = s.Giftcardobject.Addmessage(objectID, req).Context(ctx).Do()
	case KindGeneric:
		_, err = s.Genericobject.Addmessage(objectID, req).Context(ctx).Do()
	default:
		err = errors.New("google: unknown kind " + string(kind))
	}
	return err
}

func (c *Client) checkObjectID(objectID string) error {
	suffix, ok := strings.CutPrefix(objectID, c.issuerID+".")
	if !ok || suffix == "" || Sanitize(suffix) != suffix {
		return core.Invalid("objectId", "must be %s.<suffix of [A-Za-z0-9._-]>", c.issuerID)
	}
	return nil
}
