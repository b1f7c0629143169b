"""A real evaluation set: ACL Anthology researchers and who they went on to co-author with."""
