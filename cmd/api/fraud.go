package main

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/otpd/otpd/otp"
)

// fraudAdmin is what the fraud guard's routes ask of the domain
// (otp.Service): its blocks and its safe list.
type fraudAdmin interface {
	FraudBlocks(ctx context.Context) ([]otp.FraudBlock, error)
	LiftFraudBlock(ctx context.Context, name string) (otp.FraudBlock, error)
	FraudSafeList(ctx context.Context) ([]otp.SafeListEntry, error)
	AddSafe(ctx context.Context, entry string) (string, error)
	RemoveSafe(ctx context.Context, entry string) error
}

func handleFraudBlocks(svc fraudAdmin) gin.HandlerFunc {
	return func(c *gin.Context) {
		bs, err := svc.FraudBlocks(c.Request.Context())
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"blocks": bs})
	}
}

// handleLiftFraudBlock ends a block: the name is a prefix, its + escaped
// as %2B (a + left as is works too: a path is not a form), or a country.
func handleLiftFraudBlock(svc fraudAdmin) gin.HandlerFunc {
	return func(c *gin.Context) {
		b, err := svc.LiftFraudBlock(c.Request.Context(), c.Param("name"))
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"block": b})
	}
}

func handleSafeList(svc fraudAdmin) gin.HandlerFunc {
	return func(c *gin.Context) {
		entries, err := svc.FraudSafeList(c.Request.Context())
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"entries": entries})
	}
}

func handleAddSafe(svc fraudAdmin) gin.HandlerFunc {
	return func(c *gin.Context) {
		e, err := svc.AddSafe(c.Request.Context(), c.Param("entry"))
		if err != nil {
			writeError(c, err)
			return
		}
		c.JSON(http.StatusOK, otp.SafeListEntry{Entry: e, Source: "api"})
	}
}

func handleRemoveSafe(svc fraudAdmin) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := svc.RemoveSafe(c.Request.Context(), c.Param("entry")); err != nil {
			writeError(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	}
}
