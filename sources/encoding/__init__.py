"""Privacy-preserving encodings of person records, made at the agency (`joinedup encode`), so
that a feed's names, dates of birth and addresses never leave it in the clear."""
