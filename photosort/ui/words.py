"""Numbers in sentences, as a person writes them."""


def plural(count: int, one: str, many: str) -> str:
    """'1 photo', '2 photos', '1,234 photos'."""
    return f"{count:,} {one if count == 1 else many}"
