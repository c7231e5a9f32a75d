"""Offers and coupons: defined (`book`), issued to wallets or as shared codes, used and given back
(`coupons`)."""
