"""The database side of bringing history in from files (`loyalty.imports`): what validation must
know of the database (`known`), members created in bulk (`members`), opening balances
(`balances`) and the store a mapping describes (`stores`).

Purchases and returns are posted by the posting routines themselves (`services.posting.set_based`,
`services.purchases`), so an imported order earns and moves tiers exactly as a live one.
"""
