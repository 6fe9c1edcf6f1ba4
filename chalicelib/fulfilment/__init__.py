"""Fulfilment: a paid order's Step Functions workflow (pack, ship, deliver), the warehouse
simulator and the carrier webhook."""
