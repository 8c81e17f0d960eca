"""Tradovate's enumerations, spelled exactly as the wire spells them."""

from enum import StrEnum


class FailureReason(StrEnum):
    """Why a place/modify/cancel/liquidate command was refused (the 33-value superset)."""

    AccountClosed = "AccountClosed"
    AdvancedTrailingStopUnsupported = "AdvancedTrailingStopUnsupported"
    AnotherCommandPending = "AnotherCommandPending"
    BackMonthProhibited = "BackMonthProhibited"
    ExecutionProviderNotConfigured = "ExecutionProviderNotConfigured"
    ExecutionProviderUnavailable = "ExecutionProviderUnavailable"
    InvalidContract = "InvalidContract"
    InvalidPrice = "InvalidPrice"
    KeyInformationDocumentRequired = "KeyInformationDocumentRequired"
    LiquidationOnly = "LiquidationOnly"
    LiquidationOnlyBeforeExpiration = "LiquidationOnlyBeforeExpiration"
    MaxOrderQtyIsNotSpecified = "MaxOrderQtyIsNotSpecified"
    MaxOrderQtyLimitReached = "MaxOrderQtyLimitReached"
    MaxPosLimitMisconfigured = "MaxPosLimitMisconfigured"
    MaxPosLimitReached = "MaxPosLimitReached"
    MaxTotalPosLimitReached = "MaxTotalPosLimitReached"
    MultipleAccountPlanRequired = "MultipleAccountPlanRequired"
    NoQuote = "NoQuote"
    NotEnoughLiquidity = "NotEnoughLiquidity"
    OtherExecutionRelated = "OtherExecutionRelated"
    ParentRejected = "ParentRejected"
    RiskCheckTimeout = "RiskCheckTimeout"
    SSFNFAComplianceRequired = "SSFNFAComplianceRequired"
    SSFNFAComplianceRequiredJointOnly = "SSFNFAComplianceRequiredJointOnly"
    SSFRiskDisclosureAcknowledgmentRequired = "SSFRiskDisclosureAcknowledgmentRequired"
    SessionClosed = "SessionClosed"
    Success = "Success"
    TooLate = "TooLate"
    TradingLocked = "TradingLocked"
    TrailingStopNonOrderQtyModify = "TrailingStopNonOrderQtyModify"
    Unauthorized = "Unauthorized"
    UnknownReason = "UnknownReason"
    Unsupported = "Unsupported"


class OrdStatus(StrEnum):
    Canceled = "Canceled"
    Completed = "Completed"
    Expired = "Expired"
    Filled = "Filled"
    PendingCancel = "PendingCancel"
    PendingNew = "PendingNew"
    PendingReplace = "PendingReplace"
    Rejected = "Rejected"
    Suspended = "Suspended"
    Unknown = "Unknown"
    Working = "Working"


class ExecType(StrEnum):
    Canceled = "Canceled"
    Completed = "Completed"
    DoneForDay = "DoneForDay"
    Expired = "Expired"
    New = "New"
    OrderStatus = "OrderStatus"
    PendingCancel = "PendingCancel"
    PendingNew = "PendingNew"
    PendingReplace = "PendingReplace"
    Rejected = "Rejected"
    Replaced = "Replaced"
    Stopped = "Stopped"
    Suspended = "Suspended"
    Trade = "Trade"
    TradeCancel = "TradeCancel"
    TradeCorrect = "TradeCorrect"


class CommandType(StrEnum):
    Cancel = "Cancel"
    Modify = "Modify"
    New = "New"


class CommandStatus(StrEnum):
    AtExecution = "AtExecution"
    ExecutionRejected = "ExecutionRejected"
    ExecutionStopped = "ExecutionStopped"
    ExecutionSuspended = "ExecutionSuspended"
    OnHold = "OnHold"
    Pending = "Pending"
    PendingExecution = "PendingExecution"
    Replaced = "Replaced"
    RiskPassed = "RiskPassed"
    RiskRejected = "RiskRejected"


class OrderAction(StrEnum):
    Buy = "Buy"
    Sell = "Sell"


class OrderStrategyStatus(StrEnum):
    ActiveStrategy = "ActiveStrategy"
    ExecutionFailed = "ExecutionFailed"
    ExecutionFinished = "ExecutionFinished"
    ExecutionInterrupted = "ExecutionInterrupted"
    InactiveStrategy = "InactiveStrategy"
    NotEnoughLiquidity = "NotEnoughLiquidity"
    StoppedByUser = "StoppedByUser"


class OrderType(StrEnum):
    Limit = "Limit"
    LimitIfTouched = "LimitIfTouched"
    MIT = "MIT"
    Market = "Market"
    QTS = "QTS"
    Stop = "Stop"
    StopLimit = "StopLimit"
    TrailingStop = "TrailingStop"
    TrailingStopLimit = "TrailingStopLimit"


class TimeInForce(StrEnum):
    Day = "Day"
    FOK = "FOK"
    GTC = "GTC"
    GTD = "GTD"
    IOC = "IOC"


class AccountType(StrEnum):
    Customer = "Customer"
    Employee = "Employee"
    Giveup = "Giveup"
    House = "House"
    Omnibus = "Omnibus"
    Wash = "Wash"


class MarginAccountType(StrEnum):
    Hedger = "Hedger"
    Speculator = "Speculator"


class LegalStatus(StrEnum):
    Corporation = "Corporation"
    GP = "GP"
    IRA = "IRA"
    Individual = "Individual"
    Joint = "Joint"
    LLC = "LLC"
    LLP = "LLP"
    LP = "LP"
    PTR = "PTR"
    Trust = "Trust"


class AdminAction(StrEnum):
    AgreedOnLiqOnlyModeByAutoLiq = "AgreedOnLiqOnlyModeByAutoLiq"
    AgreedOnLiquidationByAutoLiq = "AgreedOnLiquidationByAutoLiq"
    DisableAutoLiq = "DisableAutoLiq"
    LiquidateImmediately = "LiquidateImmediately"
    LiquidateOnlyModeImmediately = "LiquidateOnlyModeImmediately"
    LockTradingImmediately = "LockTradingImmediately"
    Normal = "Normal"
    PlaceAutoLiqOnHold = "PlaceAutoLiqOnHold"


class AdminActionReasonCode(StrEnum):
    CloseAMLDecision = "CloseAMLDecision"
    CloseComplianceDecision = "CloseComplianceDecision"
    CloseCustomerRequest = "CloseCustomerRequest"
    CloseDeceased = "CloseDeceased"
    CloseEscheatment = "CloseEscheatment"
    CloseFraud = "CloseFraud"
    CloseInactiveUnfundedAccount = "CloseInactiveUnfundedAccount"
    FullBalanceWithdrawal = "FullBalanceWithdrawal"
    Other = "Other"
    RestrictedAMLRequest = "RestrictedAMLRequest"
    RestrictedAccountsRequest = "RestrictedAccountsRequest"
    RestrictedComplianceRequest = "RestrictedComplianceRequest"
    RestrictedRiskRestriction = "RestrictedRiskRestriction"
    RestrictedTreasuryRequest = "RestrictedTreasuryRequest"
    RestrictedW8Expired = "RestrictedW8Expired"


class TrailingMaxDrawdownMode(StrEnum):
    EOD = "EOD"
    RealTime = "RealTime"


class UserStatus(StrEnum):
    Active = "Active"
    Closed = "Closed"
    Initiated = "Initiated"
    TemporaryLocked = "TemporaryLocked"
    UnconfirmedEmail = "UnconfirmedEmail"


class ProductType(StrEnum):
    CommonStock = "CommonStock"
    Continuous = "Continuous"
    Cryptocurrency = "Cryptocurrency"
    Futures = "Futures"
    MarketInternals = "MarketInternals"
    Options = "Options"
    Spread = "Spread"
    Swap = "Swap"


class ProductStatus(StrEnum):
    Inactive = "Inactive"
    Locked = "Locked"
    ReadyForContracts = "ReadyForContracts"
    ReadyToTrade = "ReadyToTrade"
    Verified = "Verified"


class PriceFormatType(StrEnum):
    Decimal = "Decimal"
    Fractional = "Fractional"


class TotalBy(StrEnum):
    Contract = "Contract"
    ContractGroup = "ContractGroup"
    DiscountGroup = "DiscountGroup"
    Exchange = "Exchange"
    FungibleProduct = "FungibleProduct"
    Overall = "Overall"
    Product = "Product"
    ProductType = "ProductType"


class CashChangeType(StrEnum):
    """Tradovate's 42 cash-balance log kinds (`cashBalanceLog.cashChangeType`, `fundTransaction/adjustcash`)."""

    AccountClosureFee = "AccountClosureFee"
    AddUserFee = "AddUserFee"
    AutomaticReconciliation = "AutomaticReconciliation"
    BrokerageFee = "BrokerageFee"
    CancelledPairedTrade = "CancelledPairedTrade"
    CashSettlement = "CashSettlement"
    ChallengePayout = "ChallengePayout"
    ClearingFee = "ClearingFee"
    Commission = "Commission"
    Courtesy = "Courtesy"
    CurrencyConversion = "CurrencyConversion"
    CurrencyConversionFee = "CurrencyConversionFee"
    Debit = "Debit"
    DepositFee = "DepositFee"
    DeskFee = "DeskFee"
    DormantFee = "DormantFee"
    EntitlementSubscription = "EntitlementSubscription"
    Escheatment = "Escheatment"
    ExchangeFee = "ExchangeFee"
    FundTransaction = "FundTransaction"
    FundTransactionFee = "FundTransactionFee"
    FundingRate = "FundingRate"
    GoodwillCredit = "GoodwillCredit"
    IPFee = "IPFee"
    InactivityFee = "InactivityFee"
    LiquidationFee = "LiquidationFee"
    LiquidationFee2 = "LiquidationFee2"
    ManualAdjustment = "ManualAdjustment"
    MarketDataSubscription = "MarketDataSubscription"
    NewSession = "NewSession"
    NfaFee = "NfaFee"
    NsfCheckFee = "NsfCheckFee"
    OptionsTrade = "OptionsTrade"
    OrderRoutingFee = "OrderRoutingFee"
    PROMO = "PROMO"
    RithmicFee = "RithmicFee"
    SeatLeasePayment = "SeatLeasePayment"
    StopPaymentFee = "StopPaymentFee"
    SwapTrade = "SwapTrade"
    ThirdPartyFee = "ThirdPartyFee"
    TradePaired = "TradePaired"
    TradovateSubscription = "TradovateSubscription"


class TradingPermissionStatus(StrEnum):
    Accepted = "Accepted"
    Approved = "Approved"
    Declined = "Declined"
    Requested = "Requested"
    Revoked = "Revoked"


class Initiator(StrEnum):
    """Who started a liquidation (AutoLiqTransaction.initiator)."""

    Admin = "Admin"
    Customer = "Customer"


class EventType(StrEnum):
    """The `eventType` of a WebSocket `props` event."""

    Created = "Created"
    Updated = "Updated"
    Deleted = "Deleted"
