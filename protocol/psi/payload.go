package psi

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// sealOverhead is the AEAD tag added to each payload.
const sealOverhead = 16

const payloadInfo = "mitai/v1/payload"

// payloadAEAD derives the key of one payload from the encoded element
// H(y)^c and returns AES-256-GCM under it. Every key seals exactly one
// message, so the all-zero nonce is safe.
func payloadAEAD(element []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, element, nil, payloadInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("psi: derive payload key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// payloadAD binds a sealed payload to the job and to its position j in the
// sender's shuffled order.
func payloadAD(jobID string, j int) []byte {
	ad := make([]byte, 0, 2+len(jobID)+4)
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(jobID)))
	ad = append(ad, jobID...)
	return binary.BigEndian.AppendUint32(ad, uint32(j))
}

var zeroNonce [12]byte

func sealPayload(dst, element, payload []byte, jobID string, j int) ([]byte, error) {
	aead, err := payloadAEAD(element)
	if err != nil {
		return nil, err
	}
	return aead.Seal(dst, zeroNonce[:], payload, payloadAD(jobID, j)), nil
}

func openPayload(element, sealed []byte, jobID string, j int) ([]byte, error) {
	aead, err := payloadAEAD(element)
	if err != nil {
		return nil, err
	}
	p, err := aead.Open(nil, zeroNonce[:], sealed, payloadAD(jobID, j))
	if err != nil {
		return nil, fmt.Errorf("psi: payload %d of a matched key does not open: %w", j, err)
	}
	return p, nil
}
