"""A set of addresses that answers "no" or "maybe", in a fixed 8 MB whatever its size: a
Bloom filter of two bits per address, both taken from its 64-bit `hash`.

Guarantee: an address added is always "maybe" (`in` is True); one never added is "no" but
for a false "maybe" now and then (about 1 in 1,200 with a million addresses in, 1 in
10,000,000 with 10,000). A caller settles each "maybe" exactly. Hashes are Python's, salted
per process: a filter is only good within the process that filled it.
"""

from __future__ import annotations

from collections.abc import Iterable

BITS = 1 << 26  # 8 MB
_MASK = BITS - 1


class HashBits:
    """Addresses (or any strings) taken in, to be asked about with `in`."""

    def __init__(self) -> None:
        self.bits = bytearray(BITS // 8)

    def add(self, key: str) -> bool:
        """Take `key` in; whether it was a "maybe" before (its two bits were set)."""
        return self.add_hash(hash(key))

    def add_hash(self, h: int) -> bool:
        """`add` for a key's `hash`, when the caller has it already."""
        bits, low, high = self.bits, h & _MASK, (h >> 32) & _MASK
        there = bits[low >> 3] & (1 << (low & 7)) and bits[high >> 3] & (1 << (high & 7))
        bits[low >> 3] |= 1 << (low & 7)
        bits[high >> 3] |= 1 << (high & 7)
        return bool(there)

    def update(self, keys: Iterable[str]) -> None:
        """Take every one of `keys` in."""
        for key in keys:
            self.add_hash(hash(key))

    def __contains__(self, key: object) -> bool:
        h, bits = hash(key), self.bits
        low, high = h & _MASK, (h >> 32) & _MASK
        return bool(bits[low >> 3] & (1 << (low & 7)) and bits[high >> 3] & (1 << (high & 7)))
