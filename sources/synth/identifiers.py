"""Synthetic identifiers with the real check-digit rules: NHS numbers, UPNs, postcodes.

NHS numbers start with 9, a range never issued to patients, so no generated number can be a real
person's. UPNs use a fictional local-authority number. Postcodes use the fictional area in
data/places.yaml.
"""

from __future__ import annotations

import numpy as np

NHS_WEIGHTS = np.arange(10, 1, -1)
UPN_LETTERS = np.array(list("ABCDEFGHJKLMNPQRTUVWXYZ"))  # DfE check-letter alphabet


def nhs_check_digit(bodies: np.ndarray) -> np.ndarray:
    """Modulus-11 check digit for 9-digit bodies given as an (n, 9) digit array; 10 = invalid."""
    check = 11 - (bodies @ NHS_WEIGHTS) % 11
    return np.where(check == 11, 0, check)


def digits_to_str(digits: np.ndarray) -> np.ndarray:
    width = digits.shape[1]
    as_int = digits @ (10 ** np.arange(width - 1, -1, -1, dtype=np.int64))
    return np.char.zfill(as_int.astype(str), width).astype(object)


def nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct valid NHS numbers in the never-issued 9xx range."""
    out: list[np.ndarray] = []
    seen: set[str] = set()
    need = n
    while need > 0:
        bodies = np.column_stack([np.full(need * 2, 9), rng.integers(0, 10, (need * 2, 8))])
        check = nhs_check_digit(bodies)
        ok = check != 10
        numbers = digits_to_str(np.column_stack([bodies[ok], check[ok]]))
        fresh = [x for x in dict.fromkeys(numbers) if x not in seen][:need]
        seen.update(fresh)
        out.append(np.array(fresh, dtype=object))
        need -= len(fresh)
    return np.concatenate(out) if out else np.array([], dtype=object)


def nhs_valid(number: str) -> bool:
    digits = number.replace(" ", "")
    if len(digits) != 10 or not digits.isdigit():
        return False
    body = np.array([int(c) for c in digits[:9]])
    check = int(nhs_check_digit(body[None, :])[0])
    return check != 10 and check == int(digits[9])


def upn_check_letters(bodies: np.ndarray) -> np.ndarray:
    """DfE check letter for 12-digit UPN bodies given as an (n, 12) digit array."""
    total = bodies @ np.arange(2, 14)
    return UPN_LETTERS[total % 23]


def upns(la_code: np.ndarray, establishment: np.ndarray, year: np.ndarray,
         serial: np.ndarray) -> np.ndarray:
    """UPNs: check letter + LA number (3) + establishment (4) + year allocated (2) + serial (3)."""
    body = (la_code.astype(np.int64) * 10**9 + establishment.astype(np.int64) * 10**5
            + (year.astype(np.int64) % 100) * 10**3 + serial.astype(np.int64))
    digits = (body[:, None] // (10 ** np.arange(11, -1, -1, dtype=np.int64))) % 10
    letters = upn_check_letters(digits)
    return (letters.astype(object) + np.char.zfill(body.astype(str), 12).astype(object))


def upn_valid(upn: str) -> bool:
    upn = upn.strip().upper()
    if len(upn) != 13 or not upn[1:].isdigit():
        return False
    digits = np.array([int(c) for c in upn[1:]])
    return bool(upn_check_letters(digits[None, :])[0] == upn[0])


def postcode_units(rng: np.random.Generator, n: int, area: str, districts: dict,
                   letters: str) -> np.ndarray:
    """n distinct postcodes of the shape '<area><district> <digit><letter><letter>'.

    A district holds 10 x letters^2 units; drawing more than half of that space would make the
    rejection loop crawl (and past all of it, never end), so a population too big for the
    configured districts gets further ones, numbered on, each as likely as the least likely."""
    per_district = 10 * len(letters) ** 2
    needed = -(-2 * n // per_district)
    if needed > 99:
        raise ValueError(f"{n} postcode units do not fit in one postcode area")
    districts = dict(districts)
    extra = [d for d in range(1, 100) if str(d) not in map(str, districts)]
    weight = min(districts.values())
    districts.update({d: weight for d in extra[:max(0, needed - len(districts))]})
    names = np.array([str(k) for k in districts], dtype=object)
    p = np.array(list(districts.values()), dtype=float)
    letter_arr = np.array(list(letters), dtype=object)
    out: dict[str, None] = {}
    while len(out) < n:
        m = (n - len(out)) * 2 + 16
        district = names[rng.choice(len(names), m, p=p / p.sum())]
        codes = (area + district + " " + rng.integers(0, 10, m).astype(str).astype(object)
                 + letter_arr[rng.integers(0, len(letters), m)]
                 + letter_arr[rng.integers(0, len(letters), m)])
        for c in codes:
            if len(out) >= n:
                break
            out.setdefault(c, None)
    return np.array(list(out), dtype=object)
