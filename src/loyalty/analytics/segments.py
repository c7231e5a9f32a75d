"""The RFM groups' names and recommended actions, in zh-CN and English: the one place they are written.

Both schemes are here: the binary scheme's eight groups (keyed by RFM code, the scheme common in
Chinese retail: 重要价值客户 …) and the quintile scheme's R×F map (keyed by segment code: champions …).
The RFM scores, the `analytics rfm` file, the HTML report and the segments export all read them from
here. Pure Python (no pandas, no database) so that an export can label segments without loading the
analytics stack.
"""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.i18n import current_locale, normalise


@dataclass(frozen=True)
class Segment:
    """One group: stable code, zh-CN and English names, and what to do about it in either language."""

    code: str
    zh: str
    en: str
    action_zh: str
    action_en: str
    # Binary scheme: the "important" groups (spend above the threshold), whose loss costs most.
    high_value: bool = False

    def name(self, locale: str | None = None) -> str:
        """The name in `locale` (default: the current one)."""
        return self.zh if (normalise(locale) or current_locale()) == "zh-CN" else self.en

    def action(self, locale: str | None = None) -> str:
        """The recommended action in `locale` (default: the current one)."""
        return self.action_zh if (normalise(locale) or current_locale()) == "zh-CN" else self.action_en


BINARY_SEGMENTS: dict[str, Segment] = {
    "222": Segment(
        "high_value",
        "重要价值客户",
        "High value",
        "保持满意：VIP 服务、新品优先体验，无需折扣",
        "Keep delighted: VIP service, early access, no discounts needed",
        high_value=True,
    ),
    "212": Segment(
        "develop",
        "重要发展客户",
        "Develop",
        "提高到店频次：交叉销售、会员挑战、组合套餐",
        "Raise visit frequency: cross-sell, loyalty challenges, bundles",
        high_value=True,
    ),
    "122": Segment(
        "retain",
        "重要保持客户",
        "Retain",
        "近期沉寂但价值高：专人联系、到店提醒",
        "Recently quiet but valuable: personal outreach, reminders",
        high_value=True,
    ),
    "112": Segment(
        "win_back",
        "重要挽留客户",
        "Win back",
        "高消费客户正在流失：挽回优惠，了解流失原因",
        "Slipping high spenders: win-back offer, ask what went wrong",
        high_value=True,
    ),
    "221": Segment(
        "general_value",
        "一般价值客户",
        "General value",
        "常来但客单价低：推荐升级，提高客单价",
        "Frequent but small baskets: upsell, raise basket size",
    ),
    "211": Segment(
        "general_develop",
        "一般发展客户",
        "General develop",
        "新客或偶尔光顾：新客引导、二次购买券",
        "New or occasional: onboarding, second-purchase coupon",
    ),
    "121": Segment(
        "general_retain",
        "一般保持客户",
        "General retain",
        "老顾客渐少光顾：低成本提醒、积分到期通知",
        "Regulars going quiet: low-cost reminders, points expiry notice",
    ),
    "111": Segment(
        "general_win_back",
        "一般挽留客户",
        "General win back",
        "低价值且已流失：仅做低成本的大众营销",
        "Low value and lapsed: low-cost mass campaigns only",
    ),
}

QUINTILE_SEGMENTS: dict[str, Segment] = {
    "champions": Segment(
        "champions",
        "冠军客户",
        "Champions",
        "奖励他们：新品优先、专属权益，邀请推荐新客",
        "Reward them: early access, exclusive perks, ask for referrals",
    ),
    "loyal": Segment(
        "loyal",
        "忠诚客户",
        "Loyal",
        "提升价值：推荐高端商品，邀请评价",
        "Upsell higher-value products, ask for reviews",
    ),
    "potential_loyalist": Segment(
        "potential_loyalist",
        "潜力忠诚客户",
        "Potential loyalist",
        "邀请升级会员等级，推荐相关商品",
        "Offer a tier upgrade, recommend related products",
    ),
    "new": Segment(
        "new",
        "新客户",
        "New",
        "做好新客引导，尽早促成第二次购买",
        "Onboard well, earn the second purchase soon",
    ),
    "promising": Segment(
        "promising",
        "有潜力客户",
        "Promising",
        "建立认知：小额优惠券、会员权益介绍",
        "Build awareness: small coupons, explain member benefits",
    ),
    "need_attention": Segment(
        "need_attention",
        "需要关注客户",
        "Need attention",
        "限时优惠，根据购买记录做个性化推荐",
        "Limited-time offers, recommendations from their history",
    ),
    "at_risk": Segment(
        "at_risk",
        "流失风险客户",
        "At risk",
        "发送个性化召回信息，提供续购优惠",
        "Send personal win-back messages, renewal offers",
    ),
    "cannot_lose": Segment(
        "cannot_lose",
        "不能失去的客户",
        "Cannot lose",
        "主动联系挽回，了解原因，不要交给竞争对手",
        "Win them back personally, find out why, do not lose them to competitors",
    ),
    "about_to_sleep": Segment(
        "about_to_sleep",
        "即将沉睡客户",
        "About to sleep",
        "推荐热门商品，用优惠重新唤起兴趣",
        "Recommend popular products, rekindle with a discount",
    ),
    "hibernating": Segment(
        "hibernating",
        "沉睡客户",
        "Hibernating",
        "低成本唤醒：节日活动、积分到期提醒",
        "Low-cost reactivation: seasonal campaigns, points expiry notices",
    ),
    "lost": Segment(
        "lost",
        "已流失客户",
        "Lost",
        "仅做低成本触达，不值得高额投入",
        "Reach only at low cost; not worth a large spend",
    ),
}
